#(define etude-ctx-table (make-hash-table))
#(define etude-ctx-count 0)
#(define (etude-ctx-number ctx)
   (if (not ctx) 0
     (let ((n (hashq-ref etude-ctx-table ctx)))
       (if n n (begin (set! etude-ctx-count (1+ etude-ctx-count))
                      (hashq-set! etude-ctx-table ctx etude-ctx-count)
                      etude-ctx-count)))))
#(define (etude-mom m) (format #f "~a ~a" (ly:moment-main m) (ly:moment-grace m)))
#(define (etude-digits arts)
   (filter-map (lambda (a) (and (memq 'fingering-event (ly:event-property a 'class))
                                (ly:event-property a 'digit))) arts))
#(define (etude-has-tie arts)
   (any (lambda (a) (memq 'tie-event (ly:event-property a 'class))) arts))
#(define (Etude_fingering_engraver context)
   (make-engraver
     (listeners
       ((note-event engraver event)
          (let* ((pitch (ly:event-property event 'pitch))
                 (staff (ly:context-find context 'Staff))
                 (parent (and staff (ly:context-parent staff)))
                 (arts (ly:event-property event 'articulations '()))
                 (dur (ly:event-property event 'duration #f)))
            (if (ly:pitch? pitch)
              (display (format #f "ETUDE\tN\t~a\t~a\t~a\t~a\t~a\t~a\t~a\t~a\n"
                 (etude-ctx-number context) (etude-ctx-number staff) (etude-ctx-number parent)
                 (+ 60 (ly:pitch-semitones pitch))
                 (etude-mom (ly:context-current-moment context))
                 (if dur (ly:moment-main (ly:duration-length dur)) 0)
                 (etude-digits arts) (if (etude-has-tie arts) 1 0))))))
       ((fingering-event engraver event)
          (display (format #f "ETUDE\tF\t~a\t~a\n" (etude-ctx-number context)
                      (etude-mom (ly:context-current-moment context)))
          )
          (display (format #f "ETUDE\tD\t~a\n" (ly:event-property event 'digit))))
       ((tie-event engraver event)
          (display (format #f "ETUDE\tT\t~a\t~a\n" (etude-ctx-number context)
                      (etude-mom (ly:context-current-moment context))))))))
\layout {
  \context { \Voice \consists #Etude_fingering_engraver }
  \context { \Score skipTypesetting = ##t }
}
