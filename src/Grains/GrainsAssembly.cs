namespace LvMae.Grains;
internal static class GrainsAssembly { }
