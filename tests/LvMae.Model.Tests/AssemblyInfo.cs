// One test at a time: the machine has 2 cores, and torch's global generator is shared state.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
