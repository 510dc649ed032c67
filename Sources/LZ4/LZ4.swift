/// LZ4 frames through liblz4.
public enum LZ4Module {}
