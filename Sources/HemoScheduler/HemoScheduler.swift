/// The coordinator's scheduler as a pure state machine.
public enum HemoSchedulerModule {}
