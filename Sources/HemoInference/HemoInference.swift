/// A vectorized CPU engine for ONNX models.
public enum HemoInferenceModule {}
