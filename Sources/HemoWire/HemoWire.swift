/// The coordinator–worker wire protocol.
public enum HemoWireModule {}
