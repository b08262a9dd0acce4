/**
 * `answer` that keeps its last answer, for a pure function of a string asked the same question
 * again and again: a client sends the same headers at every scrape (parsing Prometheus 3's
 * Accept took 3 us, more than the rest of a cached scrape), and the request limit and the
 * router both ask for the path of the same URL (issue 10). A different question is answered
 * afresh; only the last one is kept.
 */
export function keepingLast<T>(answer: (question: string) => T): (question: string) => T {
  let last: string | undefined;
  let kept: T;
  return (question) => {
    if (question !== last) {
      kept = answer(question);
      last = question;
    }
    return kept;
  };
}
