using Vla.Inference;

namespace Vla.Server;

/// <summary>A chunk for one request and how long the model took on the batch that computed it.</summary>
/// <param name="Chunk">The actions, in the data's units.</param>
/// <param name="InferMs">Milliseconds of the <see cref="VlaPredictor.PredictBatch"/> call.</param>
/// <param name="BatchSize">Requests in that batch.</param>
public sealed record InferenceResult(ActionChunk Chunk, double InferMs, int BatchSize);
