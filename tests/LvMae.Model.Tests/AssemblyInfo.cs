using System.Runtime.CompilerServices;

// One test at a time: the machine has 2 cores, and torch's global generator is shared state.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace LvMae.Model.Tests;

internal static class TestSetup
{
    /// <summary>Tiny models gain nothing from intra-op threads, and on a busy shared machine
    /// libtorch's spinning worker threads make them several times slower.</summary>
    [ModuleInitializer]
    internal static void SingleThreadedTorch() => TorchSharp.torch.set_num_threads(1);
}
