namespace LvMae.Storage;
internal static class StorageAssembly { }
