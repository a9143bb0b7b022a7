package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// checkpointEvery is the interval between checkpoint writes while a file is
// being imported. Writes happen off the workers' path, since a sync to a
// slow disk can take a good fraction of a second.
var checkpointEvery = time.Second

// fileJob is one input file: what it is, where this run starts in it, and
// how far the server has acknowledged it.
type fileJob struct {
	path      string // as given
	format    string
	size      int64
	statePath string
	skip      bool // imported completely by an earlier run

	// start is where this run begins reading.
	start checkpoint

	mu     sync.Mutex
	cp     checkpoint       // the acknowledged prefix
	gen    uint64           // bumped on every change to cp
	acked  map[int64]ackRec // acknowledged chunks beyond cp.Offset, by start offset
	eof    bool             // the reader has cut the last chunk
	eofOff int64            // uncompressed size, once eof

	saveMu   sync.Mutex // serialises checkpoint writes, so an older cp never replaces a newer one
	savedGen uint64     // gen of the last cp written; guarded by saveMu
}

// ackRec is what the checkpoint needs from an acknowledged chunk.
type ackRec struct {
	end, span, rawEnd int64
	written, rejected int64
}

// run is the state shared by the goroutines of one Run call.
type run struct {
	cfg  Config
	log  *logger
	prog *progress
	snd  *sender

	saveWarn sync.Once

	mu  sync.Mutex // guards res
	res Result
}

// Run imports files into the server described by cfg and reports what was
// done. It returns when every file has been acknowledged, on the first
// error that retrying cannot fix, or when ctx is cancelled; in the last
// case the error wraps context.Cause(ctx) and the checkpoints let the next
// Run with the same files continue where this one stopped.
func Run(ctx context.Context, cfg Config, files []string) (Result, error) {
	began := time.Now()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if len(files) == 0 {
		return Result{}, errors.New("no input files")
	}
	r := &run{cfg: cfg, log: &logger{w: cfg.Log}, res: Result{Files: len(files)}}

	jobs, err := r.prepare(files)
	if err != nil {
		return Result{}, err
	}
	var total int64
	for _, j := range jobs {
		if !j.skip {
			total += max(j.size-j.start.RawOffset, 0)
		}
	}
	r.prog = newProgress(cfg.Progress, total)
	r.log.setProgress(r.prog)
	r.snd = newSender(cfg, r.log)
	defer r.snd.close()

	// A fatal error in any goroutine cancels the others through ctx; its
	// cause is the error to report.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// A small queue is enough to keep the workers busy while the reader
	// cuts the next chunk, and bounds memory to a few chunks per worker.
	queue := make(chan *chunk, cfg.Workers)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() { r.work(ctx, cancel, queue) })
	}
	stopSaver := make(chan struct{})
	var saver sync.WaitGroup
	saver.Go(func() { r.saveLoop(jobs, stopSaver) })

	if err := r.produce(ctx, jobs, queue); err != nil {
		cancel(err)
	}
	wg.Wait()
	close(stopSaver)
	saver.Wait()

	allDone := true
	for _, j := range jobs {
		if j.skip {
			continue
		}
		r.save(j)
		j.mu.Lock()
		allDone = allDone && j.cp.Complete
		j.mu.Unlock()
	}
	r.prog.finish(allDone)

	r.mu.Lock()
	res := r.res
	r.mu.Unlock()
	res.Elapsed = time.Since(began)
	sortRejected(res.Rejected, files)
	r.log.printf("%s", res.Summary())

	if cause := context.Cause(ctx); cause != nil && !allDone {
		if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
			return res, fmt.Errorf("import interrupted: %w", cause)
		}
		return res, cause
	}
	return res, nil
}

// sortRejected orders rejected lines by file, in the order the files were
// given, then by line: workers finish chunks in any order.
func sortRejected(rej []RejectedLine, files []string) {
	order := make(map[string]int, len(files))
	for i, f := range files {
		if _, ok := order[f]; !ok {
			order[f] = i
		}
	}
	slices.SortStableFunc(rej, func(a, b RejectedLine) int {
		if c := cmp.Compare(order[a.File], order[b.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
}

// prepare opens every file once, before anything is sent, so that a typo in
// the last name is reported at once instead of after hours of importing,
// and so that the progress bar knows the total.
func (r *run) prepare(files []string) ([]*fileJob, error) {
	seen := make(map[string]bool)
	var jobs []*fileJob
	for _, path := range files {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", path, err)
		}
		if seen[abs] {
			r.log.printf("%s is listed twice; importing it once", path)
			continue
		}
		seen[abs] = true
		j, err := r.prepareFile(path, abs)
		if err != nil {
			return nil, err
		}
		if j.skip {
			r.res.FilesSkipped++
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func (r *run) prepareFile(path, abs string) (*fileJob, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // already says "stat <path>: ..."
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("import %s: not a regular file", path)
	}
	in, err := openInput(path)
	if err != nil {
		return nil, err
	}
	format, err := detectFormat(path, r.cfg.Format, in.r)
	gzipped := in.gzipped
	in.Close()
	if err != nil {
		return nil, err
	}

	key := stateKey{
		Path:      abs,
		Size:      fi.Size(),
		MtimeNS:   fi.ModTime().UnixNano(),
		Server:    r.cfg.Server,
		DB:        r.cfg.DB,
		Precision: r.cfg.Precision,
	}
	if format == FormatNDJSON {
		key.Table = r.cfg.Table
	}
	j := &fileJob{
		path:      path,
		format:    format,
		size:      fi.Size(),
		statePath: statePath(r.cfg.StateDir, key),
		acked:     make(map[int64]ackRec),
		cp: checkpoint{
			Version:   stateVersion,
			Path:      key.Path,
			Size:      key.Size,
			MtimeNS:   key.MtimeNS,
			Server:    key.Server,
			DB:        key.DB,
			Table:     key.Table,
			Precision: key.Precision,
			Format:    format,
		},
	}

	if r.cfg.Resume {
		old, err := loadCheckpoint(j.statePath)
		switch {
		case err != nil:
			r.log.printf("ignoring the saved progress of %s: %v", path, err)
		case old == nil:
		case old.Path != key.Path || old.Size != key.Size || old.MtimeNS != key.MtimeNS || old.Format != format:
			// A hash collision or a hand-edited file: not ours.
		case old.Complete:
			j.skip = true
			r.log.printf("%s was already imported into %q (%s rows written, %s rejected); skipping it, use --no-resume to import it again",
				path, r.cfg.DB, groupThousands(old.RowsWritten), groupThousands(old.RowsRejected))
		case old.Offset > 0:
			j.cp = *old
			pct := 0
			if j.size > 0 {
				pct = int(min(old.RawOffset, j.size) * 100 / j.size)
			}
			how := ""
			if gzipped {
				how = "; decompressing up to there first"
			}
			r.log.printf("resuming %s at line %s (%d%%)%s", path, groupThousands(old.Line+1), pct, how)
		}
	}
	j.start = j.cp
	return j, nil
}

// produce cuts the files into chunks and queues them, in file order. It
// closes queue when done and returns an error only for a failure to read.
func (r *run) produce(ctx context.Context, jobs []*fileJob, queue chan<- *chunk) error {
	defer close(queue)
	for _, j := range jobs {
		if j.skip {
			continue
		}
		if err := r.produceFile(ctx, j, queue); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func (r *run) produceFile(ctx context.Context, j *fileJob, queue chan<- *chunk) error {
	in, err := openInput(j.path)
	if err != nil {
		return err
	}
	defer in.Close()
	r.prog.setFile(filepath.Base(j.path))

	if off := j.start.Offset; off > 0 {
		if err := in.skipTo(off); err != nil {
			return fmt.Errorf("skip to the saved position in %s (rerun with --no-resume to start over): %w", j.path, err)
		}
	}
	k := newChunker(in.r, in.rawPos, j.format, r.cfg.BatchLines, j.start.Offset, j.start.Line, j.start.RawOffset)
	for {
		c, err := k.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", j.path, err)
		}
		c.file = j
		if k.eof {
			// Make the bar end exactly at the file size even where the
			// raw position of gzip input is approximate.
			c.rawEnd = max(j.size, c.rawStart)
		}
		if c.rows() == 0 {
			// Only blank or comment lines: nothing to send, but the
			// range still has to be acknowledged in order.
			r.ack(c, reply{})
			continue
		}
		select {
		case queue <- c:
		case <-ctx.Done():
			return nil
		}
	}
	j.mu.Lock()
	j.eof, j.eofOff = true, k.off
	r.advance(j)
	j.mu.Unlock()
	return nil
}

// work sends queued chunks until the queue is closed.
func (r *run) work(ctx context.Context, cancel context.CancelCauseFunc, queue <-chan *chunk) {
	for c := range queue {
		if ctx.Err() != nil {
			continue // drain, so that the producer never blocks
		}
		payload, err := compress(c.body)
		if err != nil {
			cancel(err)
			continue
		}
		c.payload = payload
		rep, err := r.snd.send(ctx, c)
		if err != nil {
			if ctx.Err() == nil {
				cancel(err)
			}
			continue
		}
		r.ack(c, rep)
	}
}

// ack records that the server has answered for c.
func (r *run) ack(c *chunk, rep reply) {
	r.mu.Lock()
	r.res.RowsSent += int64(c.rows())
	r.res.RowsWritten += rep.written
	r.res.RowsRejected += rep.rejected
	r.res.Bytes += c.end - c.start
	r.res.WireBytes += int64(len(c.payload))
	room := MaxStoredRejects - len(r.res.Rejected)
	r.res.Rejected = append(r.res.Rejected, rep.rejectedLines[:min(room, len(rep.rejectedLines))]...)
	r.mu.Unlock()
	r.prog.add(c.rawEnd-c.rawStart, c.rows())

	j := c.file
	j.mu.Lock()
	defer j.mu.Unlock()
	j.acked[c.start] = ackRec{
		end: c.end, span: c.span, rawEnd: c.rawEnd,
		written: rep.written, rejected: rep.rejected,
	}
	r.advance(j)
}

// advance moves the checkpoint over the acknowledged chunks that now follow
// it without a gap, and marks the file complete when the checkpoint reaches
// its end. j.mu must be held.
func (r *run) advance(j *fileJob) {
	for {
		a, ok := j.acked[j.cp.Offset]
		if !ok {
			break
		}
		delete(j.acked, j.cp.Offset)
		j.cp.Offset = a.end
		j.cp.Line += a.span
		j.cp.RawOffset = a.rawEnd
		j.cp.RowsWritten += a.written
		j.cp.RowsRejected += a.rejected
		j.gen++
	}
	if j.eof && j.cp.Offset == j.eofOff && !j.cp.Complete {
		j.cp.Complete = true
		j.gen++
	}
}

// saveLoop saves changed checkpoints every checkpointEvery until stop is
// closed.
func (r *run) saveLoop(jobs []*fileJob, stop <-chan struct{}) {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for _, j := range jobs {
				if !j.skip {
					r.save(j)
				}
			}
		case <-stop:
			return
		}
	}
}

// save writes j's checkpoint if it changed since the last write. Failing
// to is not fatal: the import itself is unaffected, only resuming it would
// start further back.
func (r *run) save(j *fileJob) {
	j.saveMu.Lock()
	defer j.saveMu.Unlock()
	j.mu.Lock()
	cp, gen := j.cp, j.gen
	j.mu.Unlock()
	if gen == j.savedGen {
		return
	}
	cp.Updated = time.Now().UTC()
	if err := saveCheckpoint(j.statePath, &cp); err != nil {
		r.saveWarn.Do(func() {
			r.log.printf("cannot save import progress (%v); an interrupted import will have to start over", err)
		})
		return
	}
	j.savedGen = gen
}
