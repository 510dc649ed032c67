/// The release format: writer and verifier.
public enum HemoReleaseModule {}
