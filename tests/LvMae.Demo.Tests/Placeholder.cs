namespace LvMae.Demo.Tests;
