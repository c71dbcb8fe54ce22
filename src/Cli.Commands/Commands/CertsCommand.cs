using System.CommandLine;
using LvMae.Client;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae certs create --out DIR [--name NODE] [--days N]`: a self-signed CA and a node certificate for a lab cluster's mutual TLS.</summary>
public sealed class CertsCommand : ICliCommand
{
    public Command Build()
    {
        var output = new Option<string>("--out") { Description = "Folder for ca.crt, ca.key and <name>.pfx (created, owner-only)", Required = true };
        var name = new Option<string>("--name") { Description = "Node certificate name: <name>.pfx (one shared by every silo and client of a lab cluster is fine)", DefaultValueFactory = _ => "node" };
        var days = new Option<int>("--days") { Description = "Validity of the node certificate in days (the CA: at least 5 years)", DefaultValueFactory = _ => 365 };
        var create = new Command("create",
            "Create a lab CA (ca.crt + ca.key) and a node certificate it issues (<name>.pfx, TLS client + server). Run again with " +
            "another --name to issue more from the same CA. The PFX is encrypted with LVMAE__Tls__CertificatePassword when that is set")
        {
            output, name, days,
        };
        create.SetAction(parse =>
        {
            string? password;
            try { password = CommandLine.Settings().Tls.CertificatePassword; }
            catch (LvMaeConfigurationException e) { CommandLine.Error(e.Message); return ExitCodes.Usage; }
            LabCertificateFiles files;
            try { files = LabCertificates.Create(parse.GetValue(output)!, parse.GetValue(name)!, string.IsNullOrEmpty(password) ? null : password, parse.GetValue(days)); }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                CommandLine.Error(e.Message);
                return ExitCodes.Usage;
            }
            var table = new ResultTable("file", "what");
            table.Row(files.CaCertificate, files.CaCreated ? "the cluster CA (new): copy to every silo and client" : "the cluster CA (existing)");
            table.Row(files.CaKey, "the CA's private key: keep it off the cluster; it issues more certificates");
            table.Row(files.NodeCertificate, "this node's certificate + key" + (string.IsNullOrEmpty(password) ? " (no password; file mode 600)" : " (encrypted with LVMAE__Tls__CertificatePassword)"));
            table.Write();
            AnsiConsole.MarkupLine("Use it on every silo and client (docs/OPERATIONS.md):");
            Console.WriteLine($"  export LVMAE__Tls__CertificatePath={files.NodeCertificate}");
            Console.WriteLine($"  export LVMAE__Tls__CaCertificatePath={files.CaCertificate}");
            return ExitCodes.Ok;
        });
        return new Command("certs", "Certificates for a cluster secured with mutual TLS") { create };
    }
}
