#nullable enable
// MSBuild task (compiled by RoslynCodeTaskFactory, so the build needs nothing beyond the SDK).
// Marks chosen version-need entries of ELF64 little-endian shared libraries as VER_FLG_WEAK, so the dynamic
// loader tolerates their absence. Used for libLibTorchSharp.so; see LibTorchSharp.targets for why.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenElfVersionNeeds : Task
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Semicolon-separated version names, e.g. GLIBCXX_3.4.32.</summary>
    [Required] public string Versions { get; set; } = "";

    /// <summary>auto: only versions the host's libstdc++ lacks; true: all listed versions.</summary>
    [Required] public string Mode { get; set; } = "auto";

    /// <summary>The libstdc++ to compare against in auto mode; found in the usual library folders when empty.</summary>
    public string HostLibStdCxx { get; set; } = "";

    public override bool Execute()
    {
        var wanted = Versions.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).Select(v => v.Trim()).ToList();
        if (string.Equals(Mode, "auto", StringComparison.OrdinalIgnoreCase))
        {
            var host = string.IsNullOrEmpty(HostLibStdCxx) ? FindHostLibStdCxx() : HostLibStdCxx;
            if (host == null)
            {
                Log.LogMessage(MessageImportance.Low, "No host libstdc++ found; leaving libLibTorchSharp.so untouched.");
                return true;
            }
            var hostBytes = File.ReadAllBytes(host);
            wanted = wanted.Where(v => IndexOf(hostBytes, Encoding.ASCII.GetBytes(v + "\0")) < 0).ToList();
            if (wanted.Count == 0)
            {
                Log.LogMessage(MessageImportance.Low, $"{host} provides every listed version; nothing to patch.");
                return true;
            }
        }

        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            string? error;
            var patched = TryWeaken(path, wanted, out error);
            if (error != null)
            {
                Log.LogError($"Cannot patch {path}: {error}");
                return false;
            }
            if (patched.Count > 0)
                Log.LogMessage(MessageImportance.Normal, $"Marked {string.Join(", ", patched)} weak in {path}.");
        }
        return true;
    }

    static string? FindHostLibStdCxx()
    {
        string[] dirs =
        {
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64", "/lib64", "/usr/lib", "/lib",
        };
        return dirs.Select(d => Path.Combine(d, "libstdc++.so.6")).FirstOrDefault(File.Exists);
    }

    /// <summary>Returns the version names newly marked weak; sets error when the file is not a usable ELF64 LE.</summary>
    static List<string> TryWeaken(string path, IReadOnlyCollection<string> versions, out string? error)
    {
        error = null;
        var done = new List<string>();
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            error = "not an ELF file";
            return done;
        }
        if (elf[4] != 2 || elf[5] != 1)
        {
            error = "only 64-bit little-endian ELF is supported";
            return done;
        }

        var shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        if (shentsize < 64 || shoff <= 0 || shoff + (long)shnum * shentsize > elf.Length)
        {
            error = "section header table out of range";
            return done;
        }

        long Section(int index, int field, int size) =>
            size == 8 ? (long)BitConverter.ToUInt64(elf, (int)(shoff + (long)index * shentsize + field))
                      : BitConverter.ToUInt32(elf, (int)(shoff + (long)index * shentsize + field));

        var changes = new List<int>();
        for (var s = 0; s < shnum; s++)
        {
            if ((uint)Section(s, 4, 4) != ShtGnuVerneed) continue;
            var offset = Section(s, 0x18, 8);
            var link = (int)Section(s, 0x28, 4);
            var count = (int)Section(s, 0x2C, 4);
            if (link >= shnum)
            {
                error = "version-need section links to a missing string table";
                return done;
            }
            var strtab = Section(link, 0x18, 8);
            var strsize = Section(link, 0x20, 8);

            var need = offset;
            for (var n = 0; n < count; n++)
            {
                if (need + 16 > elf.Length) { error = "version-need entry out of range"; return done; }
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                var aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (var a = 0; a < auxCount; a++)
                {
                    if (aux + 16 > elf.Length) { error = "version-need auxiliary entry out of range"; return done; }
                    var nameOffset = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (nameOffset >= strsize) { error = "version name out of range"; return done; }
                    var name = ReadCString(elf, (int)(strtab + nameOffset));
                    var flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    if (versions.Contains(name) && (flags & VerFlgWeak) == 0)
                    {
                        var newFlags = (ushort)(flags | VerFlgWeak);
                        elf[aux + 4] = (byte)newFlags;
                        elf[aux + 5] = (byte)(newFlags >> 8);
                        changes.Add((int)aux);
                        done.Add(name);
                    }
                    var next = BitConverter.ToUInt32(elf, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                var nextNeed = BitConverter.ToUInt32(elf, (int)need + 12);
                if (nextNeed == 0) break;
                need += nextNeed;
            }
        }

        if (changes.Count > 0)
        {
            // Write a new file and move it over the old one: never edit a file that may be hard-linked
            // into the NuGet package cache.
            var temp = path + ".weakening";
            File.WriteAllBytes(temp, elf);
            File.Delete(path);
            File.Move(temp, path);
        }
        return done;
    }

    static string ReadCString(byte[] data, int start)
    {
        var end = start;
        while (end < data.Length && data[end] != 0) end++;
        return Encoding.ASCII.GetString(data, start, end - start);
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i <= haystack.Length - needle.Length; i++)
        {
            var j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}
