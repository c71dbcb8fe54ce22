namespace LvMae.Grains.Tests;
