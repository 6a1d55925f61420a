//! The built-in fake Partner Center (stub: being written).
