namespace LvMae.Pipeline;
internal static class PipelineAssembly { }
