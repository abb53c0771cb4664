//! An output that the threads of one run write in disjoint parts: the convs' shares of output rows
//! or channels, and the band schedule's rows of each layer.

use std::marker::PhantomData;
use std::ops::Range;

/// An output shared by the tasks of a run, which write disjoint parts of it.
pub(crate) struct OutPtr<'a, T = f32> {
    ptr: *mut T,
    len: usize,
    marker: PhantomData<&'a mut [T]>,
}

// SAFETY: tasks reach the buffer only through `view` (or, for the int8 kernels, through a sink
// over some rows), whose callers promise disjoint parts.
unsafe impl<T: Send> Sync for OutPtr<'_, T> {}

impl<'a, T> OutPtr<'a, T> {
    pub(crate) fn new(out: &'a mut [T]) -> Self {
        Self { ptr: out.as_mut_ptr(), len: out.len(), marker: PhantomData }
    }

    /// Values of the whole output.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first value, for sinks that write through it under the same contract as [`Self::view`].
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn ptr(&self) -> *mut T {
        self.ptr
    }

    /// The flat positions `range` of every plane of `plane` values.
    ///
    /// # Safety
    /// While the view lives, no other view may reach the same positions of the same channel.
    pub(crate) unsafe fn view(&self, plane: usize, range: Range<usize>) -> OutView<'_, T> {
        assert!(range.start <= range.end && range.end <= plane, "the view lies inside a plane");
        OutView { out: self, plane, range }
    }
}

/// One task's part of the output: positions `range` of each channel's plane.
pub(crate) struct OutView<'a, T = f32> {
    out: &'a OutPtr<'a, T>,
    plane: usize,
    range: Range<usize>,
}

impl<T> OutView<'_, T> {
    /// The view's positions of output channel `channel`.
    pub(crate) fn channel(&mut self, channel: usize) -> &mut [T] {
        let start = channel * self.plane + self.range.start;
        assert!(start + self.range.len() <= self.out.len, "channel {channel} is inside the output");
        // SAFETY: inside the buffer (checked); `OutPtr::view`'s caller keeps other tasks off these
        // positions, and `&mut self` keeps this view from handing out two slices at once.
        unsafe { std::slice::from_raw_parts_mut(self.out.ptr.add(start), self.range.len()) }
    }
}
