using System.Text;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Data;

public sealed class CsvDatasetImporterTests
{
    public CsvDatasetImporterTests() => TorchRuntime.Initialize();

    static Dataset Read(string text, CsvImportOptions? options = null, DatasetImportLimits? limits = null) =>
        CsvDatasetImporter.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), options, limits);

    [Fact]
    public void Read_AllColumnsWithQuoting_ParsesEveryField()
    {
        const string text =
            "id,x1,subject,label,split,x2\r\n" +
            "\"a,1\",1.5,\"Smith, \"\"J\"\"\",1,train,-2\r\n" +
            "b,2e-1,,0,test, 3 \r\n" +
            "c,0,\"multi\nline\",2,train,4\r\n";

        using var dataset = Read(text);

        Assert.Equal(["a,1", "b", "c"], dataset.SampleIds);
        Assert.Equal(["Smith, \"J\"", null, "multi\nline"], dataset.SubjectIds);
        Assert.Equal([Split.Train, Split.Test, Split.Train], dataset.Splits);
        Assert.Equal(new long[] { 3, 2 }, dataset.Features.shape);
        Assert.Equal(new[] { 1.5f, -2f, 0.2f, 3f, 0f, 4f }, dataset.Features.data<float>().ToArray());
        Assert.Equal(new long[] { 1, 0, 2 }, dataset.Targets.data<long>().ToArray());
        Assert.Equal(3, dataset.ClassCount);
        Assert.Null(dataset.ClassNames);
    }

    [Fact]
    public void Read_StringLabels_MapsSortedNamesToIndices()
    {
        using var dataset = Read("f,label\n1,dog\n2,cat\n3,emu\n4,cat\n5,7\n");

        Assert.Equal(["7", "cat", "dog", "emu"], dataset.ClassNames);
        Assert.Equal(4, dataset.ClassCount);
        Assert.Equal(new long[] { 2, 1, 3, 1, 0 }, dataset.Targets.data<long>().ToArray());
    }

    [Fact]
    public void Read_SparseIntegerLabels_ClassCountIsMaxPlusOne()
    {
        using var dataset = Read("f,label\n1,4\n2,+0\n");

        Assert.Equal(5, dataset.ClassCount);
        Assert.Equal(new long[] { 4, 0 }, dataset.Targets.data<long>().ToArray());
    }

    [Fact]
    public void Read_RegressionWithCustomTarget_GivesFloatTargetsAndGeneratedIds()
    {
        var options = new CsvImportOptions { Task = TaskKind.Regression, TargetColumn = "price", IdPrefix = "house" };

        using var dataset = Read("rooms,price,area\n3,250000.5,80\n1,-1e3,20", options);

        Assert.Equal(TaskKind.Regression, dataset.Task);
        Assert.Equal(ScalarType.Float32, dataset.Targets.dtype);
        Assert.Equal(new[] { 250000.5f, -1000f }, dataset.Targets.data<float>().ToArray());
        Assert.Equal(new[] { 3f, 80f, 1f, 20f }, dataset.Features.data<float>().ToArray());
        Assert.Equal(["house-0", "house-1"], dataset.SampleIds);
        Assert.Equal(0, dataset.ClassCount);
    }

    [Fact]
    public void Read_ByteOrderMarkAndNonSeekableStream_Accepted()
    {
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("id,f,label\nx,1,0\n")).ToArray();

        using var dataset = CsvDatasetImporter.Read(NonSeekableStream.Of(bytes));

        Assert.Equal(["x"], dataset.SampleIds);
    }

    public static TheoryData<string, string, string> MalformedFiles() => new()
    {
        { "empty file", "", "CSV: the file is empty; a header row is required." },
        { "header only", "f,label\n", "CSV: the file has a header but no data rows." },
        { "short row", "f,g,label\n1,2,0\n1,2\n", "CSV row 3 has 2 field(s) but the header has 3." },
        { "long row", "f,label\n1,0\n1,0,9\n", "CSV row 3 has 3 field(s) but the header has 2." },
        { "blank line", "f,label\n1,0\n\n2,1\n", "CSV row 3 has 1 field(s) but the header has 2." },
        { "text feature", "id,f,label\na,1,0\nb,abc,1\n", "CSV row 3, column 2 ('f'): 'abc' is not a finite number." },
        { "empty feature", "f,g,label\n1,,0\n", "CSV row 2, column 2 ('g'): '' is not a finite number." },
        { "NaN feature", "f,label\nNaN,0\n", "CSV row 2, column 1 ('f'): 'NaN' is not a finite number." },
        { "overflowing feature", "f,label\n1e39,0\n", "CSV row 2, column 1 ('f'): '1e39' is not a finite number." },
        { "comma decimal", "f,label\n\"1,5\",0\n", "CSV row 2, column 1 ('f'): '1,5' is not a finite number." },
        { "duplicate id", "id,f,label\na,1,0\nb,1,0\na,2,1\n", "CSV row 4, column 1 ('id'): the id 'a' already appears in row 2." },
        { "empty id", "f,id,label\n1,,0\n", "CSV row 2, column 2 ('id'): the id is empty." },
        { "unknown split", "f,split,label\n1,train,0\n1,holdout,0\n", "CSV row 3, column 2 ('split'): unknown split 'holdout'; expected train, test or validation." },
        { "empty split", "f,split,label\n1,,0\n", "CSV row 2, column 2 ('split'): unknown split ''; expected train, test or validation." },
        { "no target column", "f,g\n1,2\n", "CSV row 1: there is no target column 'label'." },
        { "no feature column", "id,label\na,0\n", "CSV row 1: there are no feature columns besides id, subject, split and the target." },
        { "duplicate column", "f,label,f\n1,0,2\n", "CSV row 1, column 3: the column name 'f' already names column 1." },
        { "empty column name", "f,,label\n1,2,0\n", "CSV row 1, column 2: the column name is empty." },
        { "quote inside field", "f,label\n1\"2,0\n", "CSV row 2, column 1: a quote inside an unquoted field; quote the whole field and double the quotes within it." },
        { "text after quote", "f,label\n\"1\"2,0\n", "CSV row 2, column 1: a closing quote must be followed by a comma or the end of the line." },
        { "unclosed quote", "f,label\n1,\"0\n", "CSV row 2, column 2: a quoted field is not closed before the end of the file." },
        { "negative label", "f,label\n1,0\n2,-1\n", "CSV row 3, column 2 ('label'): the label -1 is negative; integer labels are class indices from 0." },
        { "label over class limit", "f,label\n1,100000\n", "CSV row 2, column 2 ('label'): the label 100000 is over the limit of 100000 classes." },
        { "empty label", "f,label\n1,0\n2,\n", "CSV row 3, column 2 ('label'): the target is empty." },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Read_MalformedFile_ThrowsItsOwnMessage(string caseName, string text, string expectedMessage)
    {
        var error = Assert.Throws<DatasetFormatException>(() => Read(text).Dispose());

        Assert.True(error.Message == expectedMessage, $"{caseName}: expected '{expectedMessage}', got '{error.Message}'");
    }

    [Fact]
    public void Read_RegressionTextTarget_ThrowsWithRowAndColumn()
    {
        var error = Assert.Throws<DatasetFormatException>(() =>
            Read("f,y\n1,2\n3,high\n", new CsvImportOptions { Task = TaskKind.Regression, TargetColumn = "y" }));

        Assert.Equal("CSV row 3, column 2 ('y'): 'high' is not a finite number.", error.Message);
    }

    [Fact]
    public void Read_InvalidUtf8_ThrowsWithRow()
    {
        var bytes = Encoding.UTF8.GetBytes("f,label\n1,0\n2,").Concat(new byte[] { 0xC3, 0x28, (byte)'\n' }).ToArray();

        var error = Assert.Throws<DatasetFormatException>(() => CsvDatasetImporter.Read(new MemoryStream(bytes)));

        Assert.Equal("CSV row 3, column 2: the file is not valid UTF-8 here.", error.Message);
    }

    [Fact]
    public void Read_ConfiguredLimits_RejectRowsColumnsAndBytes()
    {
        const string text = "f,g,label\n1,2,0\n3,4,1\n5,6,0\n";

        var rows = Assert.Throws<DatasetFormatException>(() => Read(text, limits: new DatasetImportLimits { MaxSamples = 2 }));
        var columns = Assert.Throws<DatasetFormatException>(() => Read(text, limits: new DatasetImportLimits { MaxColumns = 2 }));
        var bytes = Assert.Throws<DatasetFormatException>(() => Read(text, limits: new DatasetImportLimits { MaxBytes = text.Length - 1 }));
        var classes = Assert.Throws<DatasetFormatException>(() => Read("f,label\n1,a\n2,b\n3,c\n", limits: new DatasetImportLimits { MaxClasses = 2 }));

        Assert.Equal("CSV row 4: more than 2 samples, the limit.", rows.Message);
        Assert.Equal("CSV row 1: more than 2 columns, the limit.", columns.Message);
        Assert.Equal($"CSV: the data is larger than the limit of {text.Length - 1} bytes.", bytes.Message);
        Assert.Equal("CSV column 2 ('label'): 3 distinct labels, over the limit of 2 classes.", classes.Message);
        using var atLimit = Read(text, limits: new DatasetImportLimits { MaxSamples = 3, MaxColumns = 3, MaxBytes = text.Length });
    }

    [Fact]
    public void Read_FieldLongerThanTheLimit_IsRejectedBeforeItIsHeldWhole()
    {
        var limits = new DatasetImportLimits { MaxFieldCharacters = 8 };
        using var atLimit = Read("f,label\n12345678,0\n", limits: limits);

        var unquoted = Assert.Throws<DatasetFormatException>(() => Read("f,label\n123456789,0\n", limits: limits));
        var quoted = Assert.Throws<DatasetFormatException>(() => Read("f,\"long label\"\n1,0\n", limits: limits));
        // The default limit stops an endless field (a 1 GB one would need 2 GB of text before being judged).
        var endless = Assert.Throws<DatasetFormatException>(() => Read("f,label\n" + new string('1', (1 << 16) + 1) + ",0\n"));

        Assert.Equal("CSV row 2, column 1: the field is longer than 8 characters, the limit.", unquoted.Message);
        Assert.Equal("CSV row 1, column 2: the field is longer than 8 characters, the limit.", quoted.Message);
        Assert.Equal("CSV row 2, column 1: the field is longer than 65536 characters, the limit.", endless.Message);
    }

    [Theory]
    [InlineData("id")]
    [InlineData("split")]
    [InlineData("")]
    public void Read_ReservedTargetColumn_ThrowsArgumentException(string target)
    {
        Assert.Throws<ArgumentException>(() => Read("f,label\n1,0\n", new CsvImportOptions { TargetColumn = target }));
    }

    [Fact]
    public void Read_UndefinedTask_ThrowsArgumentException()
    {
        var error = Assert.Throws<ArgumentException>(() => Read("f,label\n1,0\n", new CsvImportOptions { Task = (TaskKind)7 }));

        Assert.StartsWith("Task 7 is not one of Classification, Regression.", error.Message, StringComparison.Ordinal);
    }
}
