namespace Vla.Evaluation;

/// <summary>One episode's actions over time: the truth and the first step of each predicted chunk, in data units.</summary>
/// <param name="Dataset">The evaluated path.</param>
/// <param name="Episode">Episode index in that dataset.</param>
/// <param name="Prompt">Its instruction.</param>
/// <param name="Truth">Per step, per dimension.</param>
/// <param name="Predicted">Per step, per dimension (chunk step 0 of the window ending there).</param>
public sealed record Trajectory(string Dataset, int Episode, string Prompt, List<float[]> Truth, List<float[]> Predicted);
