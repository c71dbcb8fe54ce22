namespace LvMae.Pipeline.Tests;
