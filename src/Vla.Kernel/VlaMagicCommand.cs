using System.Globalization;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Directives;
using Vla.Data;
using Vla.Kernel.Rendering;
using Vla.Runtime;
using Vla.Training;
using InteractiveKernel = Microsoft.DotNet.Interactive.Kernel;
using Vla.Config;

namespace Vla.Kernel;

/// <summary>
/// <c>#!vla</c>: quick looks without writing code. <c>#!vla episode --data PATH [--index N]</c> renders
/// an episode, <c>#!vla stats --data PATH</c> computes and shows normalization statistics, and
/// <c>#!vla training --run DIR</c> draws a run's curves from its <c>logs/metrics.jsonl</c>.
/// Relative paths are relative to the notebook's folder.
/// </summary>
public sealed class VlaMagicCommand : KernelDirectiveCommand
{
    /// <summary>What to show: episode, stats or training.</summary>
    public string? View { get; set; }
    /// <summary>A Parquet file, folder or glob (episode, stats).</summary>
    public string? Data { get; set; }
    /// <summary>Episode index in the data (episode; default 0).</summary>
    public string? Index { get; set; }
    /// <summary>A training run's folder (training).</summary>
    public string? Run { get; set; }

    internal static void AddTo(InteractiveKernel kernel)
    {
        var directive = new KernelActionDirective("#!vla")
        {
            Description = "Shows Vla data: episode --data PATH [--index N] | stats --data PATH | training --run DIR",
            Parameters =
            [
                new KernelDirectiveParameter("--view", "episode, stats or training") { AllowImplicitName = true, Required = true }
                    .AddCompletions(() => ["episode", "stats", "training"]),
                new KernelDirectiveParameter("--data", "Parquet file, folder or glob"),
                new KernelDirectiveParameter("--index", "episode index (default 0)"),
                new KernelDirectiveParameter("--run", "a training run's folder (holds logs/metrics.jsonl)"),
            ],
        };
        kernel.AddDirective<VlaMagicCommand>(directive, (command, context) => command.ShowAsync(context));
    }

    private async Task ShowAsync(KernelInvocationContext context)
    {
        try
        {
            string html = View switch
            {
                "episode" => await EpisodeAsync(),
                "stats" => NormalizationStatsHtml.Render(NormalizationStats.Compute(await OpenAsync())),
                "training" => TrainingHistoryHtml.Render(TrainingHistory.Load(Run ?? throw new BadInputException("#!vla training needs --run DIR (a training run's folder)."))),
                _ => throw new BadInputException($"#!vla: unknown view '{View}' (use episode, stats or training)."),
            };
            context.DisplayAs(html, "text/html");
        }
        catch (VlaException e)
        {
            context.Fail(this, message: e.Message);
        }
    }

    private async Task<string> EpisodeAsync()
    {
        int index = 0;
        if (Index is not null && !int.TryParse(Index, NumberStyles.Integer, CultureInfo.InvariantCulture, out index))
            throw new BadInputException($"#!vla episode: --index '{Index}' is not a whole number.");
        // Only that episode is read (a LeRobot dataset's episode_index, else the position in the files): a partial download works.
        var dataset = await OpenAsync(new DataOptions { Episodes = EpisodeSelection.Parse([index.ToString(CultureInfo.InvariantCulture)], "--index") });
        return EpisodeHtml.Render(dataset, 0);
    }

    private Task<EpisodeDataset> OpenAsync(DataOptions? options = null) =>
        EpisodeDataset.OpenAsync([Data ?? throw new BadInputException($"#!vla {View} needs --data PATH (Parquet files or a LeRobot dataset's root).")], options ?? new DataOptions());
}
