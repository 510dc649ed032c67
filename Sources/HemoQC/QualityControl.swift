import HemoConcurrency
import Foundation
import HemoCore
import HemoRelease

/// What ``QualityControl/run(release:output:threads:)`` wrote.
public struct QCSummary: Sendable {
    /// Cases with a montage.
    public var montages: Int
    /// Cases whose montage could not be made, with the reason (they are listed without a picture).
    public var problems: [QCError]
    /// Every file written, relative to the output folder, sorted.
    public var files: [String]
}

/// Writes a release's QC folder: `cases/<case>.png` montages and `index.html`.
public enum QualityControl {
    /// Reads the release at `release`, renders every case's montage on `threads` threads and writes
    /// `output/cases/<case>.png` and `output/index.html`. Output bytes do not depend on `threads`.
    /// Throws ``QCError`` when the release's tables cannot be read or a file cannot be written.
    public static func run(release: String, output: String, threads: Int) throws(QCError) -> QCSummary {
        let contents = try ReleaseContents(root: release)
        let casesDir = output + "/cases"
        do { try FileManager.default.createDirectory(atPath: casesDir, withIntermediateDirectories: true) } catch {
            throw QCError(casesDir, "cannot create the folder: \(error.localizedDescription)")
        }
        let results = ResultSlots(count: contents.cases.count)
        let entries = contents.cases
        runOnThreads(count: entries.count, threads: threads) { index in
            let entry = entries[index]
            let path = casesDir + "/\(entry.caseID.rawValue).png"
            do throws(QCError) {
                let bytes = try CaseMontage.png(try CaseMontage.render(release: release, entry: entry))
                guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                    throw QCError(path, "cannot write the montage")
                }
                results.store(index, nil)
            } catch {
                results.store(index, error)
            }
        }
        var montages: [CaseID: String] = [:]
        var problems: [QCError] = []
        var files: [String] = []
        for (entry, problem) in zip(entries, results.values) {
            if let problem { problems.append(problem) } else {
                montages[entry.caseID] = "cases/\(entry.caseID.rawValue).png"
                files.append("cases/\(entry.caseID.rawValue).png")
            }
        }
        let title = URL(fileURLWithPath: release).standardizedFileURL.lastPathComponent
        var html = QCReport.html(contents, title: title, montages: montages)
        if !problems.isEmpty {
            // Problems go into the page too, just before the closing tags.
            var section = "<h2>Montages that could not be made</h2>\n<ul>\n"
            for p in problems { section += "<li>\(QCReport.escape(p.description))</li>\n" }
            section += "</ul>\n"
            html = html.replacingOccurrences(of: "</body>\n</html>\n", with: section + "</body>\n</html>\n")
        }
        let indexPath = output + "/index.html"
        guard FileManager.default.createFile(atPath: indexPath, contents: Data(html.utf8)) else {
            throw QCError(indexPath, "cannot write the report")
        }
        files.append("index.html")
        return QCSummary(montages: montages.count, problems: problems, files: files.sorted())
    }
}

/// One optional error slot per case, filled from several threads.
final class ResultSlots: @unchecked Sendable {
    private var slots: [QCError?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func store(_ index: Int, _ error: QCError?) {
        lock.lock(); defer { lock.unlock() }
        slots[index] = error
    }
    var values: [QCError?] {
        lock.lock(); defer { lock.unlock() }
        return slots
    }
}
