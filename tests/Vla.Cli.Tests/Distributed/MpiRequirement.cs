using Vla.Distributed;

namespace Vla.Tests.Distributed;

/// <summary>Tests that need Open MPI skip with the reason when it is absent, and fail instead when CI asks for it.</summary>
internal static class MpiRequirement
{
    public static void Check()
    {
        if (WorkerLauncher.FindMpirun() is not null) return;
        const string reason = "Open MPI's mpirun is not installed (Debian: apt-get install openmpi-bin).";
        if (Environment.GetEnvironmentVariable("VLA_REQUIRE_MPI") == "1") Assert.Fail(reason + " VLA_REQUIRE_MPI=1 requires it.");
        Assert.Skip(reason);
    }
}
