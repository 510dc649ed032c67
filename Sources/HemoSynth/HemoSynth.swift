/// Synthetic head-CT cohorts with ground truth.
public enum HemoSynthModule {}
