using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace UnlearnService.Evidence.Tests;

/// <summary>
/// Just enough of a PDF reader to get the text back out of our own reports without external tools: inflate
/// the streams, read the font's ToUnicode CMap, and map the glyph ids shown between BT and ET to characters.
/// </summary>
internal static partial class PdfText
{
    public static string Extract(byte[] pdf)
    {
        var streams = Streams(pdf).ToList();
        var cmap = streams.FirstOrDefault(s => s.Contains("begincmap", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("The PDF has no ToUnicode CMap.");
        var map = ParseCMap(cmap);
        var text = new StringBuilder();
        foreach (var content in streams.Where(s => s.Contains("BT", StringComparison.Ordinal) && s.Contains("Tj", StringComparison.Ordinal)))
        {
            foreach (Match block in TextBlock().Matches(content))
            {
                foreach (Match hex in HexString().Matches(block.Value))
                {
                    var glyphs = hex.Groups[1].Value;
                    for (var i = 0; i + 4 <= glyphs.Length; i += 4)
                    {
                        text.Append(map.GetValueOrDefault(Convert.ToInt32(glyphs.Substring(i, 4), 16), "\uFFFD"));
                    }
                }
                text.Append('\n');
            }
        }
        return text.ToString();
    }

    public static int PageCount(byte[] pdf) => PageObject().Matches(Encoding.Latin1.GetString(pdf)).Count;

    private static IEnumerable<string> Streams(byte[] pdf)
    {
        var latin = Encoding.Latin1.GetString(pdf);
        foreach (Match m in StreamStart().Matches(latin))
        {
            var start = m.Index + m.Length;
            var end = latin.IndexOf("endstream", start, StringComparison.Ordinal);
            var dictionary = latin[Math.Max(0, m.Index - 300)..m.Index];
            var raw = pdf.AsSpan(start, end - start).ToArray();
            if (dictionary.LastIndexOf("/FlateDecode", StringComparison.Ordinal) > dictionary.LastIndexOf("<<", StringComparison.Ordinal))
            {
                using var inflater = new ZLibStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var output = new MemoryStream();
                try
                {
                    inflater.CopyTo(output);
                }
                catch (InvalidDataException)
                {
                    continue; // not our concern: only text streams are read
                }
                raw = output.ToArray();
            }
            yield return Encoding.Latin1.GetString(raw);
        }
    }

    private static Dictionary<int, string> ParseCMap(string cmap)
    {
        var map = new Dictionary<int, string>();
        foreach (Match section in BfChar().Matches(cmap))
        {
            foreach (Match pair in Pair().Matches(section.Groups[1].Value))
            {
                map[Hex(pair.Groups[1].Value)] = Utf16(pair.Groups[2].Value);
            }
        }
        foreach (Match section in BfRange().Matches(cmap))
        {
            foreach (Match range in Range().Matches(section.Groups[1].Value))
            {
                var low = Hex(range.Groups[1].Value);
                var high = Hex(range.Groups[2].Value);
                var first = Hex(range.Groups[3].Value);
                for (var g = low; g <= high; g++)
                {
                    map[g] = char.ConvertFromUtf32(first + g - low);
                }
            }
        }
        return map;
    }

    private static int Hex(string value) => int.Parse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static string Utf16(string hex)
    {
        var units = Enumerable.Range(0, hex.Length / 4).Select(i => (char)Hex(hex.Substring(i * 4, 4))).ToArray();
        return new string(units);
    }

    [GeneratedRegex(@"(?<!end)stream\r?\n")]
    private static partial Regex StreamStart();

    [GeneratedRegex(@"BT\b.*?\bET", RegexOptions.Singleline)]
    private static partial Regex TextBlock();

    [GeneratedRegex(@"<([0-9A-Fa-f]+)>")]
    private static partial Regex HexString();

    [GeneratedRegex(@"beginbfchar(.*?)endbfchar", RegexOptions.Singleline)]
    private static partial Regex BfChar();

    [GeneratedRegex(@"beginbfrange(.*?)endbfrange", RegexOptions.Singleline)]
    private static partial Regex BfRange();

    [GeneratedRegex(@"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")]
    private static partial Regex Pair();

    [GeneratedRegex(@"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")]
    private static partial Regex Range();

    [GeneratedRegex(@"/Type\s*/Page\b")]
    private static partial Regex PageObject();
}
