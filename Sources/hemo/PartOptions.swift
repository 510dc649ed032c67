import ArgumentParser
import HemoRelease

/// `--part K/N`: one shard of the cohort, shared by `build`, `infer`, `run` and `coordinator`.
struct PartOptionGroup: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Process only part K of N of the cohort's exams (e.g. 2/7): a stable hash of each exam's name picks its part. The result is a partial release (part.json, journal.jsonl) that resumes when restarted with the same arguments; join all N with `hemo release merge`.",
        valueName: "K/N"))
    var part: String?

    func validate() throws {
        if let part, ReleasePart(parsing: part) == nil {
            throw ValidationError("--part takes K/N with 1 ≤ K ≤ N, e.g. 2/7 (got '\(part)')")
        }
    }

    /// `cohort`, restricted to the part when one was given.
    func apply(to cohort: Cohort) -> Cohort {
        guard let part, let p = ReleasePart(parsing: part) else { return cohort }
        return cohort.restricted(to: p)
    }
}
