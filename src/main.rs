fn main() -> std::process::ExitCode {
    envctl::cli::main()
}
