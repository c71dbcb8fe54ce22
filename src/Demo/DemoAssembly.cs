namespace LvMae.Demo;
internal static class DemoAssembly { }
