/// Geometry transforms, connected components, boxes and labels.
public enum HemoTransformsModule {}
