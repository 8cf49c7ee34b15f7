using Microsoft.DotNet.Interactive.Formatting;
using Vla.Data;
using Vla.Evaluation;
using Vla.Inference;
using Vla.Kernel.Rendering;
using Vla.Training;
using InteractiveKernel = Microsoft.DotNet.Interactive.Kernel;

namespace Vla.Kernel;

/// <summary>
/// Registers the workbench's HTML formatters (episodes, normalization stats, training curves, evaluation
/// reports, action chunks) and the <c>#!vla</c> magic command on a kernel. Hosts that load NuGet kernel
/// extensions call it through <see cref="VlaKernelExtension"/>; any other host can call it from a cell.
/// </summary>
public static class VlaKernel
{
    /// <summary>Adds the formatters (process-wide, as .NET Interactive formatters are) and the magic command to <paramref name="kernel"/>.</summary>
    public static void Register(InteractiveKernel kernel)
    {
        Formatter.Register<Episode>((episode, writer) => writer.Write(EpisodeHtml.Render(episode)), HtmlFormatter.MimeType);
        Formatter.Register<NormalizationStats>((stats, writer) => writer.Write(NormalizationStatsHtml.Render(stats)), HtmlFormatter.MimeType);
        Formatter.Register<TrainingHistory>((history, writer) => writer.Write(TrainingHistoryHtml.Render(history)), HtmlFormatter.MimeType);
        Formatter.Register<EvalResult>((result, writer) => writer.Write(EvalReportWriter.Body(result)), HtmlFormatter.MimeType);
        Formatter.Register<ActionChunk>((chunk, writer) => writer.Write(ActionChunkHtml.Render(chunk)), HtmlFormatter.MimeType);
        VlaMagicCommand.AddTo(kernel);
    }
}
