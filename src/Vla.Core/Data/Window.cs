namespace Vla.Data;

/// <summary>
/// A training or evaluation sample: the <c>max_seq_len</c> observations ending at <see cref="Step"/> of one
/// episode, and the action chunk <c>action[Step .. Step + horizon − 1]</c> to predict from them.
/// </summary>
/// <param name="Episode">Index of the episode in its dataset.</param>
/// <param name="Step">The current step (the last observation).</param>
public readonly record struct Window(int Episode, int Step);
