//! The terminal envctl runs in, for `envctl shell`: whether stdin is one, its size, and
//! raw mode while a node's shell owns it (every key goes to the node, Ctrl-C included).

/// Whether standard input is a terminal.
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only reads the descriptor's state.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// The terminal's size in rows and columns, when standard output is one.
pub fn size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills the winsize it is given, nothing else.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Standard input in raw mode until dropped, which restores the mode it had.
pub struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    /// Puts standard input in raw mode; `None` when it is not a terminal.
    pub fn enter() -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr read and write the termios given; cfmakeraw only
        // changes the copy.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the termios read in `enter`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}
