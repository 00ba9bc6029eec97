using System.Text;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Runtime;

namespace UnlearnService.Engine.Tests.Data;

/// <summary>Random damage to valid files must end in a dataset or a DatasetFormatException, never anything else.</summary>
public sealed class ImporterMutationTests
{
    public ImporterMutationTests() => TorchRuntime.Initialize();

    static (int Accepted, int Rejected) Mutate(byte[] valid, byte[] alphabet, int seed, Func<byte[], Dataset> read)
    {
        var random = new Random(seed);
        int accepted = 0, rejected = 0;
        for (var iteration = 0; iteration < 1500; iteration++)
        {
            var bytes = valid.ToList();
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                var at = random.Next(bytes.Count + 1);
                switch (random.Next(4))
                {
                    case 0 when at < bytes.Count: bytes[at] = (byte)random.Next(256); break;
                    case 1 when at < bytes.Count: bytes[at] = alphabet[random.Next(alphabet.Length)]; break;
                    case 2: bytes.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                }
            }
            var mutated = bytes.ToArray();
            try
            {
                using var dataset = read(mutated);
                accepted++;
            }
            catch (DatasetFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"Iteration {iteration}: {e.GetType().Name}: {e.Message}\n{Convert.ToBase64String(mutated)}");
            }
        }
        return (accepted, rejected);
    }

    [Fact]
    public void ReadCsv_RandomMutations_OnlyThrowDatasetFormatException()
    {
        var valid = Encoding.UTF8.GetBytes("id,subject,split,f1,f2,label\n\"a,1\",s1,train,1.5,2,cat\nb,,test,-3,4e2,dog\nc,\"x\"\"y\",train,0,0,cat\n");

        var (accepted, rejected) = Mutate(valid, ",\"\r\n0123456789.-e tracinsd"u8.ToArray(), 11,
            bytes => CsvDatasetImporter.Read(new MemoryStream(bytes)));

        Assert.True(accepted > 50 && rejected > 500, $"accepted {accepted}, rejected {rejected}");
    }

    [Fact]
    public void ReadIdx_RandomMutations_OnlyThrowDatasetFormatException()
    {
        var images = IdxDatasetImporterTests.Idx(0x08, [3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0]);
        var labels = IdxDatasetImporterTests.Idx(0x08, [3], [7, 0, 2]);
        var gzipped = IdxDatasetImporterTests.Gzip(images);

        var plain = Mutate(images, [0, 1, 2, 3, 8, 9, 0x0B, 0x0C, 0x0D, 0x0E, 0xFF], 12,
            bytes => IdxDatasetImporter.Read(new MemoryStream(bytes), new MemoryStream(labels), Split.Train, "m"));
        var compressed = Mutate(gzipped, [0, 1, 0x1f, 0x8b, 0xFF], 13,
            bytes => IdxDatasetImporter.Read(new MemoryStream(bytes), new MemoryStream(labels), Split.Train, "m"));

        Assert.True(plain.Accepted > 10 && plain.Rejected > 500, $"plain: {plain}");
        Assert.True(compressed.Rejected > 500, $"gzip: {compressed}");
    }

    [Fact]
    public void ReadSafeTensorsDataset_RandomMutations_OnlyThrowDatasetFormatException()
    {
        byte[] valid;
        using (var scope = torch.NewDisposeScope())
        using (var stream = new MemoryStream())
        {
            SafeTensors.Write(stream,
                [("x", torch.rand(3, 2)), ("y", torch.tensor(new long[] { 0, 2, 1 })), ("split", torch.tensor(new byte[] { 0, 0, 1 }))],
                new Dictionary<string, string> { ["sample_ids"] = "[\"a\",\"b\",\"c\"]", ["subject_ids"] = "[\"s\",null,\"t\"]" });
            valid = stream.ToArray();
        }

        var (accepted, rejected) = Mutate(valid, "{}[]\":,0123456789-. nul"u8.ToArray(), 14,
            bytes => SafeTensorsDatasetImporter.Read(new MemoryStream(bytes)));

        Assert.True(accepted > 10 && rejected > 500, $"accepted {accepted}, rejected {rejected}");
    }
}
