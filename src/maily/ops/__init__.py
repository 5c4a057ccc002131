"""Operations: figures and tools for the people who run Maily (backlog gauges, doctor)."""
