namespace LvMae.Corpus.Tests;
