namespace UnlearnService.Engine.Training;

/// <summary>
/// Training or unlearning diverged: the loss or the weights became NaN or infinite, so the model is unusable. Usually
/// the learning rate is too high for the model (gradient ascent is the classic case).
/// </summary>
public class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception with a message that says where the run diverged.</summary>
    public TrainingDivergedException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the underlying cause.</summary>
    public TrainingDivergedException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public TrainingDivergedException() : base("Training diverged: the loss became NaN or infinite.") { }
}
