namespace LvMae.Media;
internal static class MediaAssembly { }
