import CNIfTI

/// Reading and writing NIfTI-1 and NIfTI-2 volumes through libnifti.
public enum NIfTIModule {
    /// Whether libnifti's header structs have their on-disk sizes in this build.
    public static var headerLayoutIsStandard: Bool { cnifti_header_sizes_ok() == 1 }
}
