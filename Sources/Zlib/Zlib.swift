/// Deflate and CRC-32 through zlib.
public enum ZlibModule {}
