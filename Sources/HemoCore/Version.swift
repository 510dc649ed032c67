/// The tool version written into every release's provenance.
public enum HemoVersion {
    /// Semantic version of HemoCluster.
    public static let string = "0.1.0"
}
