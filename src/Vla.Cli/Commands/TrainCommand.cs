using System.CommandLine;
using Spectre.Console;
using Vla.Config;
using Vla.Distributed;
using Vla.Runtime;
using Vla.Training;

namespace Vla.Cli.Commands;

/// <summary><c>vla train --config CFG [overrides]</c>: trains a policy, with a live progress bar.</summary>
internal static class TrainCommand
{
    private static readonly Option<string> Config = CliOption.Create<string>("--config", "Run configuration (YAML).", required: true, "--config-path", "--config_path");
    private static readonly Option<int?> Epochs = CliOption.Create<int?>("--epochs", "Override training.epochs.");
    private static readonly Option<int?> MaxSteps = CliOption.Create<int?>("--max-steps", "Stop after this many optimizer steps (overrides training.max_steps).");
    private static readonly Option<int?> BatchSize = CliOption.Create<int?>("--batch-size", "Override data.batch_size (global).");
    private static readonly Option<double?> Lr = CliOption.Create<double?>("--lr", "Override optimizer.lr.");
    private static readonly Option<string?> ExperimentName = CliOption.Create<string?>("--experiment-name", "Override training.experiment_name.");
    private static readonly Option<string?> Resume = CliOption.Create<string?>("--resume-checkpoint", "Checkpoint folder to resume from.");
    private static readonly Option<string[]> TrainData = CliOption.Create<string[]>("--train-data-override", "Training Parquet path(s) instead of the config's.");
    private static readonly Option<string[]> ValData = CliOption.Create<string[]>("--val-data-override", "Validation Parquet path(s) instead of the config's.");
    private static readonly Option<string?> ModelPath = CliOption.Create<string?>("--model-path-override", "PaliGemma folder instead of model.vlm_config.model_name_or_path.");
    private static readonly Option<int> NprocPerNode = CliOption.Create<int>("--nproc-per-node", "Worker processes (data parallel); 1 trains in this process.");
    private static readonly Option<string> Backend = CliOption.Create<string>("--backend", "Collectives for several processes: mpi, nccl or auto (default).");
    private static readonly Option<bool> UseWandb = CliOption.Create<bool>("--use-wandb", "Explain how to sync the TensorBoard logs to Weights & Biases.");
    private static readonly Option<string?> WandbProject = CliOption.Create<string?>("--wandb-project-name", "Used in the printed wandb command.");

    public static Command Create()
    {
        TrainData.AllowMultipleArgumentsPerToken = true;
        ValData.AllowMultipleArgumentsPerToken = true;
        NprocPerNode.DefaultValueFactory = _ => 1;
        Backend.DefaultValueFactory = _ => "auto";
        var command = new Command("train", "Train a VLA policy (flow-matching action head on a PaliGemma backbone).")
        {
            Config, Epochs, MaxSteps, BatchSize, Lr, ExperimentName, Resume, TrainData, ValData, ModelPath, NprocPerNode, Backend, CommonOptions.Device, CommonOptions.Dtype, UseWandb, WandbProject,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(() => RunAsync(parse, ct), parse.GetValue(VlaCommandLine.Verbose)));
        return command;
    }

    /// <summary>This command's arguments without <c>--nproc-per-node</c>: what each worker runs.</summary>
    internal static List<string> WorkerArguments(IReadOnlyList<string> args)
    {
        var result = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a is "--nproc-per-node" or "--nproc_per_node") { i++; continue; }
            if (a.StartsWith("--nproc-per-node=", StringComparison.Ordinal) || a.StartsWith("--nproc_per_node=", StringComparison.Ordinal)) continue;
            result.Add(a);
        }
        return result;
    }

    /// <summary>The config file with the command line's overrides applied.</summary>
    internal static VlaConfig Overridden(ParseResult parse)
    {
        var c = ConfigLoader.Load(parse.GetValue(Config)!);
        return c with
        {
            Data = c.Data with
            {
                BatchSize = parse.GetValue(BatchSize) ?? c.Data.BatchSize,
                TrainParquetFiles = parse.GetValue(TrainData) is { Length: > 0 } train ? [.. train] : c.Data.TrainParquetFiles,
                ValParquetFiles = parse.GetValue(ValData) is { Length: > 0 } val ? [.. val] : c.Data.ValParquetFiles,
            },
            Model = c.Model with
            {
                VlmConfig = c.Model.VlmConfig with
                {
                    ModelNameOrPath = parse.GetValue(ModelPath) ?? c.Model.VlmConfig.ModelNameOrPath,
                    Dtype = parse.GetValue(CommonOptions.Dtype) ?? c.Model.VlmConfig.Dtype,
                },
            },
            Training = c.Training with
            {
                Epochs = parse.GetValue(Epochs) ?? c.Training.Epochs,
                MaxSteps = parse.GetValue(MaxSteps) ?? c.Training.MaxSteps,
                ExperimentName = parse.GetValue(ExperimentName) ?? c.Training.ExperimentName,
                Device = parse.GetValue(CommonOptions.Device) ?? c.Training.Device,
            },
            Optimizer = c.Optimizer with { Lr = parse.GetValue(Lr) ?? c.Optimizer.Lr },
        };
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var config = Overridden(parse);
        int processes = parse.GetValue(NprocPerNode);
        if (processes < 1) throw new Runtime.BadInputException("--nproc-per-node must be at least 1.");
        var (_, world, localRank) = DistributedEnvironment.Detect();
        var device = ComputeDevice.Resolve(config.Training.Device, "training.device", localRank, Math.Max(world, processes));
        if (processes > 1 && world == 1)
        {
            ConfigValidator.Validate(config, ConfigRequirements.TrainData | ConfigRequirements.ValData);
            var workerArgs = WorkerArguments(VlaCommandLine.Arguments);
            int code = DistributedEnvironment.UsesNccl(parse.GetValue(Backend)!, device)
                ? WorkerLauncher.RunDirect(processes, workerArgs, Console.WriteLine, Console.Error.WriteLine)
                : WorkerLauncher.Run(processes, workerArgs, Console.WriteLine, Console.Error.WriteLine);
            if (code != 0) Console.Error.WriteLine($"error: the {processes}-process training stopped with exit code {code}; the messages above say which rank stopped it and why.");
            return code switch { 0 => CliErrors.Ok, CliErrors.BadInput => CliErrors.BadInput, _ => CliErrors.RuntimeFailure };
        }
        string tensorboard = Path.Combine(config.Training.CheckpointDir, config.Training.ExperimentName, "tensorboard");
        if (parse.GetValue(UseWandb))
        {
            string project = parse.GetValue(WandbProject) ?? "vla";
            Console.WriteLine($"W&B: training logs go to TensorBoard; sync them with: wandb sync --sync-tensorboard --project {project} {tensorboard}");
        }

        using var group = DistributedEnvironment.Create(parse.GetValue(Backend)!, device);
        using var preemption = new Preemption(line => Console.Error.WriteLine($"{(group.WorldSize > 1 ? $"rank {group.Rank}: " : "")}{line}"));
        if (group.WorldSize == 1) return await TrainAsync(parse, config, group, preemption.Token, ct);
        try
        {
            return await TrainAsync(parse, config, group, preemption.Token, ct);
        }
        catch (Exception e)
        {
            // The other ranks wait for this one in a collective: say why this rank stopped, then end them all.
            int code = CliErrors.Report(e, parse.GetValue(VlaCommandLine.Verbose), $"rank {group.Rank} of {group.WorldSize} stopped the job: ");
            Console.Out.Flush();
            Console.Error.Flush();
            group.Abort(code);
            throw; // not reached: Abort ends the process
        }
    }

    private static async Task<int> TrainAsync(ParseResult parse, VlaConfig config, IProcessGroup group, CancellationToken preempt, CancellationToken ct)
    {
        TrainingResult result;
        if (group.WorldSize == 1 && AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
        {
            result = await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async progress =>
                {
                    var task = progress.AddTask("training", maxValue: 1);
                    return await Trainer.RunAsync(config, new Trainer.Options
                    {
                        ResumeCheckpoint = parse.GetValue(Resume),
                        ProcessGroup = group,
                        Preempt = preempt,
                        Log = line => AnsiConsole.MarkupLine(Markup.Escape(line)),
                        Wording = CliFlags.Translate,
                        Progress = p =>
                        {
                            task.MaxValue = (double)p.Epochs * p.StepsPerEpoch;
                            task.Value = (double)(p.Epoch - 1) * p.StepsPerEpoch + p.StepInEpoch;
                            task.Description = $"epoch {p.Epoch}/{p.Epochs} step {p.StepInEpoch}/{p.StepsPerEpoch} loss {p.Loss:F4} {p.SamplesPerSecond:F0} samples/s";
                        },
                    }, ct);
                });
        }
        else
        {
            result = await Trainer.RunAsync(config, new Trainer.Options
            {
                ResumeCheckpoint = parse.GetValue(Resume), Log = Console.WriteLine, Wording = CliFlags.Translate, ProcessGroup = group, Preempt = preempt,
            }, ct);
        }
        if (result.Preempted is { } saved)
        {
            if (group.Rank == 0)
                Console.Error.WriteLine($"error: stopped on request after step {result.Steps}; " +
                    (saved.Length > 0 ? $"saved {saved} (resume with --resume-checkpoint {saved})." : "nothing was saved (set training.save_on_preempt: true to save the last step)."));
            return CliErrors.RuntimeFailure;
        }
        if (group.Rank != 0) return CliErrors.Ok;

        Console.WriteLine($"Finished {result.Epochs} epochs ({result.Steps} steps); final train loss {result.FinalTrainLoss:F4}.");
        if (result.Validation is { } v)
            Console.WriteLine($"Validation: sampled-chunk MSE {v.ActionMse:F4} vs mean-chunk baseline {v.BaselineMse:F4} " +
                (v.ActionMse < v.BaselineMse ? $"({v.BaselineMse / v.ActionMse:F1}× lower)" : "(not better than the baseline yet)") + ", normalized units.");
        Console.WriteLine($"Checkpoints: {Path.Combine(result.ExperimentDir, "checkpoints")}; logs: {Path.Combine(result.ExperimentDir, "logs")}; TensorBoard: {Path.Combine(result.ExperimentDir, "tensorboard")}");
        return CliErrors.Ok;
    }
}
