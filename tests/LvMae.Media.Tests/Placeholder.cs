namespace LvMae.Media.Tests;
