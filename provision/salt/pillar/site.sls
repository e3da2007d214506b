site:
  greeting: Hello from Salt
