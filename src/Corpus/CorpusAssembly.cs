namespace LvMae.Corpus;
internal static class CorpusAssembly { }
