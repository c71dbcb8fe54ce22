namespace LvMae.Contracts;
internal static class ContractsAssembly { }
