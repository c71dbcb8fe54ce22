Console.WriteLine("lvmae");
