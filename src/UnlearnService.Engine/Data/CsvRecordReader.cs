using System.Text;

namespace UnlearnService.Engine.Data;

/// <summary>
/// Splits RFC 4180 text into records: fields separated by commas, records by CRLF (LF or a lone CR are accepted
/// too), fields optionally in double quotes, within which commas and line breaks are literal and "" is a quote.
/// Stricter than most readers: a quote inside an unquoted field, text after a closing quote and an unclosed quote
/// are errors rather than guesses.
/// </summary>
internal sealed class CsvRecordReader(TextReader reader, int maxFields, int maxFieldCharacters)
{
    readonly char[] _buffer = new char[64 * 1024];
    readonly StringBuilder _field = new();
    int _position;
    int _length;

    /// <summary>
    /// What the decoder puts in place of bytes that are not UTF-8. U+FFFF is a noncharacter, so text that
    /// really contains it is rejected too, which costs nothing for numeric tables.
    /// </summary>
    public const char InvalidText = '\uFFFF';

    /// <summary>1-based number of the record last read (the header is row 1).</summary>
    public int Row { get; private set; }

    /// <summary>Reads the next record into <paramref name="fields"/>; false at the end of the text.</summary>
    public bool ReadRecord(List<string> fields)
    {
        fields.Clear();
        if (Peek() < 0)
            return false;
        Row++;
        while (true)
        {
            _field.Clear();
            var column = fields.Count + 1;
            if (Peek() == '"')
            {
                Next();
                while (true)
                {
                    var c = Next();
                    if (c < 0)
                        throw Fail(column, "a quoted field is not closed before the end of the file.");
                    if (c == '"')
                    {
                        if (Peek() != '"')
                            break;
                        Next();
                    }
                    Append(c, column);
                }
                if (Peek() is not (',' or '\r' or '\n' or -1))
                    throw Fail(column, "a closing quote must be followed by a comma or the end of the line.");
            }
            else
            {
                int c;
                while ((c = Peek()) is not (',' or '\r' or '\n' or -1))
                {
                    if (c == '"')
                        throw Fail(column, "a quote inside an unquoted field; quote the whole field and double the quotes within it.");
                    Append(c, column);
                    Next();
                }
            }
            if (fields.Count == maxFields)
                throw new DatasetFormatException($"CSV row {Row}: more than {maxFields} columns, the limit.");
            fields.Add(_field.ToString());
            var end = Next();
            if (end == ',')
                continue;
            if (end == '\r' && Peek() == '\n')
                Next();
            return true;
        }
    }

    void Append(int c, int column)
    {
        if (c == InvalidText)
            throw Fail(column, "the file is not valid UTF-8 here.");
        if (_field.Length == maxFieldCharacters)
            throw Fail(column, $"the field is longer than {maxFieldCharacters} characters, the limit.");
        _field.Append((char)c);
    }

    int Peek()
    {
        if (_position == _length)
        {
            _length = reader.Read(_buffer, 0, _buffer.Length);
            _position = 0;
            if (_length == 0)
                return -1;
        }
        return _buffer[_position];
    }

    int Next()
    {
        var c = Peek();
        if (c >= 0)
            _position++;
        return c;
    }

    DatasetFormatException Fail(int column, string message) => new($"CSV row {Row}, column {column}: {message}");
}
