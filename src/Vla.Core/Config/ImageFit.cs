namespace Vla.Config;

/// <summary>How a camera frame of any shape becomes the vision tower's square input.</summary>
public enum ImageFit
{
    /// <summary>Stretched to the square, bicubically, aspect ratio ignored (Hugging Face's SigLIP processor; this workbench's policies).</summary>
    Stretch,

    /// <summary>
    /// Scaled by one ratio to fit the square, bilinearly without antialiasing, centred, the margins black (−1 after scaling):
    /// LeRobot's and openpi's <c>resize_with_pad_torch</c>, what pi0 and pi0.5 were trained with.
    /// </summary>
    Pad,
}
