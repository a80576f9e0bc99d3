package segment

import "fmt"

// WaitSynced returns once an fsync covering position pos (from Write)
// completed. The first waiter to find no fsync running runs one for
// everything written so far (group commit); the others wait for it. The
// owner's mutex is released while the fsync runs.
func (l *Log) WaitSynced(pos int64) error {
	for l.synced < pos {
		if l.syncErr != nil {
			return fmt.Errorf("%s append: %w", l.what, l.syncErr)
		}
		if l.w == nil {
			return fmt.Errorf("%s append: %w before the record was fsynced", l.what, ErrClosed)
		}
		if l.syncing {
			l.syncCond.Wait()
			continue
		}
		if err := l.syncOnce(); err != nil && l.dur != Fsync {
			return err
		}
	}
	return nil
}

// syncOnce runs one fdatasync of the active segment with the owner's mutex
// released. Called with no fsync running.
func (l *Log) syncOnce() error {
	l.syncing = true
	target, f, path := l.written, l.w, l.active.Path
	mu := l.syncCond.L
	mu.Unlock()
	err := datasync(f)
	mu.Lock()
	l.syncing = false
	switch {
	case err == nil:
		l.synced = max(l.synced, target)
		l.fsyncs++
	case l.active == nil:
		err = nil // Close closed f under us; it fsynced the file itself
	default:
		err = fmt.Errorf("fsync %s: %w", path, err)
		l.failSync(err)
	}
	if cerr := l.closeRetired(); cerr != nil {
		l.log.Warn(l.what+": close sealed segment", "err", cerr)
	}
	l.syncCond.Broadcast()
	return err
}

// failSync makes an fsync failure sticky under Fsync: after one, the kernel
// may have dropped dirty pages and a later fsync can succeed without them,
// so no Write may be promised durable again until the process restarts and
// recovery reads what really is on disk. Under Interval nothing was
// promised per record: the failure is the caller's to log, and the next
// interval tries again.
func (l *Log) failSync(err error) {
	if l.dur != Fsync {
		return
	}
	if l.syncErr == nil {
		l.syncErr = err
		l.log.Error(l.what+": fsync failed; refusing appends until restart", "err", err)
	}
}

// Sync forces what was written, and created or removed segment files, to
// the storage device; the Interval owner calls it on its timer. Under Write
// it does nothing.
func (l *Log) Sync() error {
	if !l.dur.syncs() {
		return nil
	}
	for l.w != nil && l.synced < l.written {
		if l.syncing {
			l.syncCond.Wait()
			continue
		}
		if err := l.syncOnce(); err != nil {
			return fmt.Errorf("%s sync: %w", l.what, err)
		}
	}
	if l.dirDirty {
		if err := SyncDir(l.dir); err != nil {
			return fmt.Errorf("%s sync: %w", l.what, err)
		}
		l.dirDirty = false
	}
	return nil
}
