namespace Vla.Data.Loading;

/// <summary>
/// A training or evaluation sample: step <see cref="Step"/> of one episode, whose current frames, state and prompt the
/// policy reads, and the action chunk <c>action[Step .. Step + horizon − 1]</c> it learns to predict.
/// </summary>
/// <param name="Episode">Index of the episode in its dataset.</param>
/// <param name="Step">The step within the episode.</param>
public readonly record struct Window(int Episode, int Step);
