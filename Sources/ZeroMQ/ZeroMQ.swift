/// Typed Swift sockets over libzmq.
public enum ZeroMQModule {}
